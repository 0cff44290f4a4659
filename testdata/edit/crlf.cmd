allow b.example
