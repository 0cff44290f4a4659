unset b.example
