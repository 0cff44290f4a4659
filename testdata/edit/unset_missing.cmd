unset nothere.example
