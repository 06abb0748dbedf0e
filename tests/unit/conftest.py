from tests.unit.fakes import fake_sc  # noqa: F401 - a fixture for every unit test
