def main(argv=None):\n    raise NotImplementedError
