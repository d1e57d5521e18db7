"""Data sets: readers of every file format, the data-set registry (checksums, download routes), records, the synthetic demo data, the 3'UTR corpus and sequence statistics."""
