"""The spine every stage uses: errors and exit codes, the config, the artifact store (and the ids,
hashes and atomic writes it is built on, `versioning`), the model registry, the links between
versions (`lineage`) and the stage interface (`Plan`, `StageResult`). Nothing here knows pandas
or scikit-learn."""
