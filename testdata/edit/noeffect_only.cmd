allow a.example
