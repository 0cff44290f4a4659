deny evil.example --profile ci
