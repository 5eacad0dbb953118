"""The spine every stage uses: errors and exit codes, the config, the artifact store, the model
registry and the stage interface (`Plan`, `StageResult`). Nothing here knows pandas or
scikit-learn."""
