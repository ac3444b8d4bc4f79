compile simulate/every1s.kai --strict=no
