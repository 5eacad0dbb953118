"""Data: where it lives (`sources`), reading it as Arrow batches (`readers`), snapshots written by
ingest (`snapshot`), column statistics (`profile`) and checks of records against a schema
(`validation/`)."""
