# SCAFFOLD: replaced by the dashboard slice.
def init_dash(app):
    pass
