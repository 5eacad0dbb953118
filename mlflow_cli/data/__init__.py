"""Data: where it lives (`sources`), reading it as Arrow batches (`readers`), snapshots written by
ingest (`snapshot`), column statistics (`profile`), the words read as booleans and missing
values (`tokens`) and checks of records against a schema (`validation/`)."""
