allow API.Example.com.
