null-filter.test.yaml
