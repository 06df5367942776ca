# The ScanSense image for Airflow services and the sensor: the official Airflow 3 image plus our
# pinned dependencies and the project itself.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.lock pyproject.toml README.md /opt/scansense/
COPY --chown=airflow:root pipelines /opt/scansense/pipelines
COPY --chown=airflow:root dashboards /opt/scansense/dashboards
COPY --chown=airflow:root sql /opt/scansense/sql
COPY --chown=airflow:root scansense.toml /opt/scansense/scansense.toml
RUN pip install --no-cache-dir -r /opt/scansense/requirements.lock \
 && pip install --no-cache-dir --no-deps -e /opt/scansense
WORKDIR /opt/scansense
