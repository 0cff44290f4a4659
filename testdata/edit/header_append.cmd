allow api.example.com
