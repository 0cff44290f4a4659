allow a.example --profile nope
