-- The MLflow tracking server's own database, beside Feast's (POSTGRES_DB).
CREATE DATABASE mlflow;
