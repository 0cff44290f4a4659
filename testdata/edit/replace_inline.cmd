deny a.example
