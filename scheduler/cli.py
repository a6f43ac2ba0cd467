# SCAFFOLD: replaced by the scheduler slice.
def register(app):
    pass
