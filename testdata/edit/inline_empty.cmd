deny tracker.example
