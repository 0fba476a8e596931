"""Errors that name the input item and say why it could not be used."""


class ItemError(ValueError):
    def __init__(self, item, reason):
        super().__init__('%s: %s' % (item, reason))
        self.item, self.reason = str(item), reason
