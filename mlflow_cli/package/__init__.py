"""`mlw package`: a self-contained deployable folder for one model."""
