allow a.example b.example a.example
