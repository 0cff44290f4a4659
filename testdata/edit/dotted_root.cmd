allow pypi.org
