allow a..b
