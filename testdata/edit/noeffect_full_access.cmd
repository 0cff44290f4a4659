allow b.example --mode full-access
