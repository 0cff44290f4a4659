allow api.example.com --profile dev
