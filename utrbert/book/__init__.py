"""The book: the papermill runner of the chapter notebooks under a profile, and the chapters' plots."""
