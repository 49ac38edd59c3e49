from tests.train.conftest import fresh_log_handler

__all__ = ["fresh_log_handler"]
