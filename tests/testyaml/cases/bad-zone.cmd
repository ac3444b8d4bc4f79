bad-zone.test.yaml
