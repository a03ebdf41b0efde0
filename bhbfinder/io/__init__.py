"""Reading survey spectra: readers (plugins), file sniffing, the streaming batch path."""
