allow [::1]:8080 xn--bcher-kva.example Bücher.example:443 10.0.0.1
