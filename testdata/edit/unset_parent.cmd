unset base.example
