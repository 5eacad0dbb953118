"""`mlw package`: a self-contained deployable folder for one model.

build.py assembles the folder (`build_package`, what cli/ calls); wheel.py makes the mlw wheel and
pins its dependencies; files.py renders the text files from templates/package/. Like the other
command layers it may import core/, models/, data/ and serve/, never cli/.
"""
