unset a.example
