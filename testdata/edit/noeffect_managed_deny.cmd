allow evil.example
