"""Data: where it lives (`sources`), reading it as Arrow batches (`readers`), snapshots written by
ingest (`snapshot`), column statistics (`profile`), the words read as booleans and missing
values (`tokens`), checks of records against a schema (`validation/`), and compact summaries
of a column's values with the drift statistics between a summary and current values (`summary`,
`drift`)."""
