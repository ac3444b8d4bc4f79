dash.test.yaml
