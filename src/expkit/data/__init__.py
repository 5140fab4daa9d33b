"""Lightning data modules, one per kind of data; each has a YAML file in conf/data/."""
