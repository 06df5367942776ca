-- What ingestion rejected, by file and reason.
SELECT source_file, reason, count(*) AS records, min(location) AS first_location
FROM quarantine
GROUP BY ALL
ORDER BY records DESC;
