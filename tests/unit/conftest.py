from tests.unit.fakes import fake_sc, network_defs  # noqa: F401 - fixtures for every unit test
