deny *
