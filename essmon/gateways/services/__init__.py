"""Gateway workflows that write, one module per job: ``provisioning`` (new gateways and the
sheet list), ``factory_list`` (the factory's list, imported), ``credentials`` (the sheet's
password and the device secret), ``claims`` (the sheet checked, the gateway taken, held or
released), ``sites`` (案件). Reads are in ``gateways.selectors``."""
