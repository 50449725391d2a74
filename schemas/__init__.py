"""pandera models of every input and output table: the single source of column names and types."""
