-- Share of abnormal sources active in each local hour, across all days (paper 000: peak 22:00-24:00).
SELECT hour, sum(abnormal_sources) AS abnormal_sources, sum(sources) AS sources,
       round(sum(abnormal_sources) / nullif(sum(sources), 0), 3) AS share
FROM hourly_abnormal
GROUP BY hour
ORDER BY hour;
