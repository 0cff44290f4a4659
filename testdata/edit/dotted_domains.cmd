allow *.github.com
