help compile
