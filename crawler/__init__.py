"""Scrapy project that crawls Yimaitong (医脉通 用药参考) drug instructions into raw drug records."""
