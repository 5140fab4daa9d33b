"""Plain torch networks; each has a YAML file in conf/model/."""
